"""The kubernetes execution mode: rendered pods and pods run against the stand-in API."""

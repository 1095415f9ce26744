"""filter.rows, transform.apply/columns, spark.apply and the safe expression language."""

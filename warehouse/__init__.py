"""The warehouse: ClickHouse DDL migrations, the loader from Kafka, and named trend queries."""

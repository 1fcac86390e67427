"""Glue between salesdw and Airflow: connections, the local Airflow environment, running DAGs."""

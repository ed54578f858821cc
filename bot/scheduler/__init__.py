"""The `worker` process: APScheduler jobs whose every fire is claimed in the database first."""

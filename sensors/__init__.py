"""The inbox sensor and the nightly schedules."""

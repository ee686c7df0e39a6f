"""newsflow's pipeline: pure stages over one record type, no Prefect imports."""

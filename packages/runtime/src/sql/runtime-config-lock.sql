-- Writers of versions take turns (this mode conflicts with itself); readers never wait.
LOCK TABLE runtime_config_versions IN SHARE ROW EXCLUSIVE MODE

pytest_plugins = ["lab.fixtures"]

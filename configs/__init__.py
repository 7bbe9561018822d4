"""The YAML configs shipped with archzoo, packaged as ``tasks.configs`` (this folder is mapped into the
`tasks` package by pyproject.toml). `tasks.config_files` finds them by name: ``classification/resnet``,
``bench/quick``..."""

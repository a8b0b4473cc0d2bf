"""The shared base every component may use: settings, errors, Kafka client factories and logging set-up."""

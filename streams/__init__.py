"""The Faust app of cchc-monitor: settings, topics, the embedded broker, web and CLI."""

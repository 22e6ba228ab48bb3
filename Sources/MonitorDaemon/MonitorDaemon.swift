// The MonitorDaemon stage; see the README's architecture section.

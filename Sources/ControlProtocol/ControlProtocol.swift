// The ControlProtocol stage; see the README's architecture section.

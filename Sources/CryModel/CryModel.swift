// The CryModel stage; see the README's architecture section.

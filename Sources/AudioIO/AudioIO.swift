// The AudioIO stage; see the README's architecture section.

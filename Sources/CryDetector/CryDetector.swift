// The CryDetector stage; see the README's architecture section.

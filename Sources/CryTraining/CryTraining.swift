// The CryTraining stage; see the README's architecture section.

//! A local stand-in for the Chat Replay API and its storage (work in progress).

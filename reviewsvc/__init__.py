"""reviewsvc's framework-free core: crypto, audio and pure policy; it never imports Django."""

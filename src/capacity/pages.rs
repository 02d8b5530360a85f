//! Provider pages for offers (filled in below).

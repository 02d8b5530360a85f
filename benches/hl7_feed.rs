//! The hospital feed benchmark (written in the next commit).
fn main() {}

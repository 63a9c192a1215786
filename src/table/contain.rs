//! Containment pass shared by the BSD and Sun readers (to be written).

//! kpartx: reads partition tables and maps partitions with device-mapper.
//!
//! The library holds everything but the front ends: partition table readers ([`table`]), map
//! naming ([`naming`]), the listing renderer ([`listing`]) and device access ([`device`]).

pub mod table;

//! kpartx: reads partition tables and maps partitions with device-mapper.
//!
//! The library holds everything but the thin binary: partition table readers ([`table`]), map
//! naming ([`naming`]), the listing renderer ([`listing`]), device access ([`device`]), device
//! argument resolution ([`target`]), probing ([`probe`]) and the command-line front end
//! ([`cli`]).

#![warn(missing_docs)]

pub mod apply;
pub mod cli;
pub mod device;
pub mod dm;
pub mod hotplug;
pub mod listing;
pub mod lock;
pub mod logging;
pub mod mapping;
pub mod naming;
pub mod out;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod table;
pub mod target;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

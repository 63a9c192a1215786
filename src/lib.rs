//! kpartx: reads partition tables and maps partitions with device-mapper.
//!
//! Layers, from the bottom: partition table readers and map naming (the [`kpartx_table`] crate,
//! pure over a block source), device access ([`device`]: block devices, loop devices, sysfs),
//! device-mapper ([`dm`]), argument resolution ([`resolve`]) and probing ([`probe`]), the pure
//! planner ([`plan`]), the use cases both front ends run ([`engine`]), and the two front ends:
//! the command line ([`cli`], with [`out`]) and the udev helper ([`hotplug`], with the
//! [`policy`]); everything they print is rendered in [`render`]. [`lock`] and [`logging`]
//! serve the engine and the front ends; [`exit`] is the exit status.

#![warn(missing_docs)]

pub mod cli;
pub mod deadline;
pub mod device;
pub mod dm;
pub mod engine;
pub mod exit;
pub mod health;
pub mod hotplug;
pub mod lock;
pub mod logging;
pub mod out;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod render;
pub mod resolve;
pub mod sys_text;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

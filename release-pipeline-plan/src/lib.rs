//! The pure half of `release-pipeline`: every decision of a release made from plain data (git
//! facts, the CI environment, the configuration, what the registry holds), and the steps that
//! carry it out, each with its exact command line. No module here spawns a process, reads a
//! file or touches the network (this crate depends on nothing that could): the library
//! `release-pipeline` gathers the facts and runs the steps. Its API follows the library's; it is
//! published for it, not for direct use.
pub mod ci;
pub mod commit;
pub mod config;
pub mod credentials;
pub mod dist;
pub mod error;
pub mod init;
pub mod newtype;
pub mod notes;
pub mod plan;
pub mod platform;
pub mod qemu;
pub mod reference;
pub mod service;
pub mod tags;
pub mod version;

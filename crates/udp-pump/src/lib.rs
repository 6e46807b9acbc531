//! UDP receive pump: a thread blocks in `recvfrom` and hands packet batches to an event
//! loop; many processes can share a port.
//!
//! `shoal-udp-pump` descends from the Perl module Event::Lib::UDPPump (its seed file
//! `shared/seeds/000_046f3fde8bde7c1f.txt` is empty; the module is described in
//! `shared/REFERENCES.md`), without its limits: any number of packets in flight
//! (bounded, with a backpressure [`Policy`]), IPv4, IPv6 and unix datagram sockets,
//! truncation reported instead of a silent 4 KiB cut, counters that add up (kernel drops
//! included), and a pump that can be stopped and joined.
//!
//! A [`UdpPump`] owns its socket and a receive thread; [`PumpBuilder::linger`] trades a
//! bounded delay for fuller batches and less CPU per packet. The owner learns of packets
//! through a [`Notify`]: a [`ReadinessFd`] (an eventfd for any poller), nothing (`()`:
//! block in [`UdpPump::recv`]), or, with the default feature `reactor`,
//! `PumpBuilder::spawn_in_reactor`, which calls a closure per packet on a
//! `shoal-reactor` loop. Several processes share one port through [`bind_shared`] (one
//! socket inherited across `fork`) or [`ReuseportGroup`] (one `SO_REUSEPORT` socket each).
//!
//! ```
//! use shoal_udp_pump::{ReadinessFd, UdpPump, bind_udp, local_addr};
//!
//! let socket = bind_udp("127.0.0.1:0".parse().unwrap())?;
//! let addr = local_addr(&socket)?;
//! // Register `wake` (AsFd) with any poller; here we just send and block.
//! let wake = ReadinessFd::new()?;
//! let pump = UdpPump::builder().spawn(socket, wake.clone())?;
//!
//! let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
//! sender.send_to(b"hello", addr)?;
//! let packet = pump.recv().expect("the pump is running")?;
//! assert_eq!(packet.data(), b"hello");
//! assert_eq!(packet.from().and_then(|f| f.inet()), Some(sender.local_addr()?));
//!
//! pump.stop()?;
//! let counters = pump.counters();
//! assert_eq!(counters.received, counters.delivered + counters.dropped + counters.in_flight);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Guide: `docs/udp-pump.md`; map of the code: `docs/architecture.md`.

mod channel;
#[cfg(loom)]
pub mod handoff;
#[cfg(not(loom))]
#[allow(unreachable_pub)] // `pub` for the loom models, crate-private otherwise.
mod handoff;
mod kernel_drops;
mod notify;
mod packet;
mod pump;
#[cfg(feature = "reactor")]
mod reactor;
mod socket;
mod sync;

pub use crossbeam_channel::RecvTimeoutError;
pub use handoff::{CounterSnapshot, Item, Notify, Policy};
pub use kernel_drops::info_in_table; // `#[doc(hidden)]`: for the fuzz harness only.
pub use kernel_drops::{KernelSocketInfo, kernel_drops, kernel_socket_info, socket_inode};
pub use notify::ReadinessFd;
pub use packet::{Packet, PeerAddr};
pub use pump::{Drain, PumpBuilder, PumpStats, Sharing, UdpPump};
#[cfg(feature = "reactor")]
pub use reactor::ReactorPump;
pub use socket::{
    ReuseportGroup, bind_shared, bind_udp, local_addr, request_recv_buffer_size,
    set_recv_buffer_size, set_recv_buffer_size_force,
};

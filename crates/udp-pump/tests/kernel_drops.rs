//! Kernel drops: a receive buffer that overflows is accounted for, so that
//! `received + kernel_drops = sent`.

mod util;

use shoal_udp_pump::{UdpPump, bind_udp, local_addr, set_recv_buffer_size};
use util::{assert_adds_up, await_accounted, send_numbered, sender_for};

fn overflow(bind: &str) {
    let socket = bind_udp(bind.parse().unwrap()).unwrap();
    let addr = local_addr(&socket).unwrap();
    let granted = set_recv_buffer_size(&socket, 4096).unwrap();
    assert!(
        granted < 64 * 1024,
        "the small buffer was not applied: {granted}"
    );
    // A queue of one and an owner that does not read: the thread blocks, the kernel
    // buffer fills and overflows.
    let pump = UdpPump::builder().capacity(1).spawn(socket, ()).unwrap();
    const SENT: u64 = 500;
    send_numbered(&sender_for(addr), addr, 0, SENT, 256);
    let mut delivered = 0;
    let (counters, kernel) = loop {
        // Read what remains until everything is accounted for.
        if let Some(item) = pump.try_recv() {
            item.unwrap();
            delivered += 1;
            continue;
        }
        let stats = pump.stats().unwrap();
        let kernel = stats.kernel_drops.unwrap();
        if stats.counters.received + kernel == SENT && stats.counters.in_flight == 0 {
            break await_accounted(&pump, SENT);
        }
        let _ = pump
            .recv_timeout(std::time::Duration::from_millis(5))
            .map(|p| {
                p.unwrap();
                delivered += 1;
            });
    };
    assert!(kernel > 0, "500 × 256 B cannot fit {granted} B");
    assert_eq!(counters.delivered, delivered);
    assert_eq!(counters.received + kernel, SENT);
    assert_adds_up(&counters);
}

#[test]
fn ipv4_overflow_is_counted_as_kernel_drops() {
    overflow("127.0.0.1:0");
}

#[test]
fn ipv6_overflow_is_counted_as_kernel_drops() {
    overflow("[::1]:0");
}

"""Traffic the suites generate through the DUT and measure: iperf3 goodput, passenger probes,
operational clients (POS, CCTV, conductors' API) and portal bypass attempts. Each module runs its
clients inside lab namespaces and its servers on the lab's ground; nothing leaves the lab."""

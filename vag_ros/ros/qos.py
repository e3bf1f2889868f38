"""QoS of the topics that say what is true now (/vag/status, the replay's state): kept for
late joiners (transient local, reliable), as a dashboard, RViz or a client that subscribes a
moment after a node started expects. A volatile subscriber still gets every new message; one
that asks for transient local also gets each publisher's latest on joining."""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)

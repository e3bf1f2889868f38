"""Episodes: the record of one robot episode and its rosbag2 (MCAP) files."""

"""Innovation points (创新积分): official evaluations, indicator systems, scoring and profiles."""

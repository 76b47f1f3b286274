"""The dynamic whitelist (白名单): rules as data, versions, tiers, diffs and pushes to banks."""

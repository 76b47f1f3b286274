"""The official evaluations (科技型中小企业, 创新型中小企业), exact to the published bands."""

"""Bank service-effect evaluation (银行科技金融服务成效评估): 80 quantitative + 20 qualitative points.

The quantitative part scores each bank's monthly indicators (:mod:`kejin.stats.kernels`, by bank)
against the best bank and against the bank's own figure at the previous year-end; the weights and
the scoring rule are data (``banks.yaml``). Totals are exact (fractions, rounded half-up to 0.01
point once) and ranked with the points engine's tie rule (:meth:`kejin.points.kernels.PeerLayout
.rank_desc`: equal totals share the best rank); rank intervals come from the points engine's
sensitivity draws (:func:`kejin.points.sensitivity.draw_weights`: Dirichlet weights around the
nominal ones), so a bank's rank is published with how much it depends on the weights.
"""

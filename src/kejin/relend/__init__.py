"""The relending ledger (再贷款/再贴现台账): quotas, bank batches, approval, drawdown, repayment."""

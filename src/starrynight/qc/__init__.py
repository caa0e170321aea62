"""Quality control: one self-contained HTML report of a run (`starrynight qc report`)."""

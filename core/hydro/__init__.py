"""Hydrology: Xinanjiang physics (``xaj``, ``unit_hydrograph``), parameter table (``params``), the
parameter LSTM, dPL model, windows and training. Submodules are imported on demand to keep
``import core.hydro`` light."""

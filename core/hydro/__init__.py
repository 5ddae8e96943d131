"""Hydrology: Xinanjiang physics (``xaj``, ``unit_hydrograph``), parameter table (``params``), the
parameter LSTM, dPL model, windows, the models' registry (``models``), the data of a run
(``prepare``) and the hydrology task for the shared trainer (``train``). Submodules are imported on demand to keep
``import core.hydro`` light."""

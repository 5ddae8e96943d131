"""ST-RainNet rain nowcasting: ConvLSTM U-Net, channel stacking, experiments 1 and 2, training and verification.

Modules, one concern each:

- :mod:`core.rain.convlstm`    the ConvLSTM cell
- :mod:`core.rain.model`       ST-RainNet (ConvLSTM encoder / bottleneck / decoder with a skip connection)
- :mod:`core.rain.stacking`    gridded dataset -> ``[time, channel, y, x]`` stack, samples, normalisation
- :mod:`core.rain.experiments` region 1 (experiment 1) and region 2 + region 1 (experiment 2), time split
- :mod:`core.rain.losses`      masked weighted MSE and log-cosh
- :mod:`core.rain.config`      the key table of a rain run config, experiment names
- :mod:`core.rain.train`       the rain task for the shared trainer (:mod:`core.training.trainer`)
- :mod:`core.rain.pipeline`    one run: config -> data -> experiments -> training -> verification
- :mod:`core.rain.evaluate`    test-set verification of both experiments and the baselines
- :mod:`core.rain.predictions` a run's ``predictions.nc`` read back as maps
- :mod:`core.rain.cli`         ``python -m core rain train|evaluate``
"""

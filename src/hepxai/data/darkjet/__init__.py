"""The dark-photon jet use case: jet simulator, HDF5 store, graph building (DarkJetGraphs) and
voxelisation for the legacy 3D-CNN."""

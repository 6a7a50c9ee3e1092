"""``shoprank export``: a trained model and its ETL output as the engine's artifact folder.
The transform spec (transform.py, from the fitted NVTabular Workflow), the forward spec
(forward.py, with one extractor per architecture: dlrm.py, dcn.py), the tensors file
(tensors.py) and the folder with its manifest (artifacts.py). Their NumPy references are
shoprank.reference's."""

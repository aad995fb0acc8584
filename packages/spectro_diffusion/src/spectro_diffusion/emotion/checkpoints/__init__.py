"""The EmoDB-trained generator shipped with the package (emodb.pt; emodb.json says how it was
made). EmoDB (Burkhardt et al. 2005) is free for research use: so is this model."""

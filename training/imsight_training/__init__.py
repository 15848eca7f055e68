"""Training of imsight's Siamese LSTM: datasets through the imsight binary, the model, triplet
training, ONNX export with golden vectors. See training/README.md."""

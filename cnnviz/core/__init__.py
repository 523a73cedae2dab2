"""The core: device, images, bundled data, the zoo, model handles and the capture engine."""

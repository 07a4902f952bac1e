"""Face processing: Haar detection, dlib landmarks, alignment, landmark features, the Laplacian mask."""

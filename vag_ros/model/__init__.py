"""The VAG network in PyTorch (no ROS).

One concept per module: ``config`` (dataclasses, presets), ``flow`` (rectified flow),
``codecs`` (pixels <-> latents), ``text`` (instruction encoders), ``video_branch`` (Cosmos
DiT), ``action_unet`` (1D U-Net), ``bridge`` (pooling), ``normalization`` (action stats),
``vag`` (the joint model), ``checkpoint`` (safetensors I/O), ``pipeline`` (generate()).
Submodules are imported on demand: diffusers and transformers are slow to import.
"""

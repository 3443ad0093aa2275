// Model paths as HF users write them: a directory, or a Hub id ("org/name") found offline in
// the Hugging Face cache (huggingface_hub's layout: <cache>/models--org--name/refs/main holds
// the commit whose files are in snapshots/<commit>/). Nothing is downloaded.
#pragma once

#include <string>
#include <vector>

namespace ptune {

// The cache directory huggingface_hub uses: $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::string hf_hub_cache_dir();

// `path` itself when it exists (or is not a Hub id); else the snapshot directory of Hub id
// `path` ("org/name", optionally "org/name@revision") in the cache. A Hub id that is not
// cached is a Usage error naming the directories searched and how to fetch it.
std::string resolve_model_dir(const std::string& path);

}  // namespace ptune

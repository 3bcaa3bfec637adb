"""CUB-200-2011 (Caltech-UCSD Birds, 200 species; Wah et al. 2011), as MMClassification 0.25's ``CUB``.

The dataset's own text files drive it, each line ``<image id> <value>`` in image-id order:
``images.txt`` (``ann_file``: the image path under ``images/``), ``image_class_labels.txt`` (1-based
class) and ``train_test_split.txt`` (1 for a training image, 0 for a test image). ``test_mode`` picks
the split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workers.data.datasets.base_dataset import BaseDataset, expanduser, read_lines
from workers.registry import DATASETS

__all__ = ["CUB"]


def _values(path: str) -> list[str]:
    """The second field of each line (``<image id> <value>``)."""
    return [line.strip().split(" ")[1] for line in read_lines(path)]


@DATASETS.register()
class CUB(BaseDataset):
    """CUB-200-2011: 5994 training and 5794 test images of 200 bird species.

    Args:
        data_prefix: The ``images`` folder.
        ann_file: ``images.txt``.
        image_class_labels_file: ``image_class_labels.txt``.
        train_test_split_file: ``train_test_split.txt``.
        pipeline: Transform configs.
        classes: Class names; default the 200 species, in the dataset's order.
        test_mode: Read the test split (else the training split).
    """

    CLASSES = ("Black_footed_Albatross", "Laysan_Albatross", "Sooty_Albatross", "Groove_billed_Ani",
               "Crested_Auklet", "Least_Auklet", "Parakeet_Auklet", "Rhinoceros_Auklet", "Brewer_Blackbird",
               "Red_winged_Blackbird", "Rusty_Blackbird", "Yellow_headed_Blackbird", "Bobolink",
               "Indigo_Bunting", "Lazuli_Bunting", "Painted_Bunting", "Cardinal", "Spotted_Catbird",
               "Gray_Catbird", "Yellow_breasted_Chat", "Eastern_Towhee", "Chuck_will_Widow",
               "Brandt_Cormorant", "Red_faced_Cormorant", "Pelagic_Cormorant", "Bronzed_Cowbird",
               "Shiny_Cowbird", "Brown_Creeper", "American_Crow", "Fish_Crow", "Black_billed_Cuckoo",
               "Mangrove_Cuckoo", "Yellow_billed_Cuckoo", "Gray_crowned_Rosy_Finch", "Purple_Finch",
               "Northern_Flicker", "Acadian_Flycatcher", "Great_Crested_Flycatcher", "Least_Flycatcher",
               "Olive_sided_Flycatcher", "Scissor_tailed_Flycatcher", "Vermilion_Flycatcher",
               "Yellow_bellied_Flycatcher", "Frigatebird", "Northern_Fulmar", "Gadwall",
               "American_Goldfinch", "European_Goldfinch", "Boat_tailed_Grackle", "Eared_Grebe",
               "Horned_Grebe", "Pied_billed_Grebe", "Western_Grebe", "Blue_Grosbeak", "Evening_Grosbeak",
               "Pine_Grosbeak", "Rose_breasted_Grosbeak", "Pigeon_Guillemot", "California_Gull",
               "Glaucous_winged_Gull", "Heermann_Gull", "Herring_Gull", "Ivory_Gull", "Ring_billed_Gull",
               "Slaty_backed_Gull", "Western_Gull", "Anna_Hummingbird", "Ruby_throated_Hummingbird",
               "Rufous_Hummingbird", "Green_Violetear", "Long_tailed_Jaeger", "Pomarine_Jaeger", "Blue_Jay",
               "Florida_Jay", "Green_Jay", "Dark_eyed_Junco", "Tropical_Kingbird", "Gray_Kingbird",
               "Belted_Kingfisher", "Green_Kingfisher", "Pied_Kingfisher", "Ringed_Kingfisher",
               "White_breasted_Kingfisher", "Red_legged_Kittiwake", "Horned_Lark", "Pacific_Loon", "Mallard",
               "Western_Meadowlark", "Hooded_Merganser", "Red_breasted_Merganser", "Mockingbird",
               "Nighthawk", "Clark_Nutcracker", "White_breasted_Nuthatch", "Baltimore_Oriole",
               "Hooded_Oriole", "Orchard_Oriole", "Scott_Oriole", "Ovenbird", "Brown_Pelican",
               "White_Pelican", "Western_Wood_Pewee", "Sayornis", "American_Pipit", "Whip_poor_Will",
               "Horned_Puffin", "Common_Raven", "White_necked_Raven", "American_Redstart", "Geococcyx",
               "Loggerhead_Shrike", "Great_Grey_Shrike", "Baird_Sparrow", "Black_throated_Sparrow",
               "Brewer_Sparrow", "Chipping_Sparrow", "Clay_colored_Sparrow", "House_Sparrow",
               "Field_Sparrow", "Fox_Sparrow", "Grasshopper_Sparrow", "Harris_Sparrow", "Henslow_Sparrow",
               "Le_Conte_Sparrow", "Lincoln_Sparrow", "Nelson_Sharp_tailed_Sparrow", "Savannah_Sparrow",
               "Seaside_Sparrow", "Song_Sparrow", "Tree_Sparrow", "Vesper_Sparrow", "White_crowned_Sparrow",
               "White_throated_Sparrow", "Cape_Glossy_Starling", "Bank_Swallow", "Barn_Swallow",
               "Cliff_Swallow", "Tree_Swallow", "Scarlet_Tanager", "Summer_Tanager", "Artic_Tern",
               "Black_Tern", "Caspian_Tern", "Common_Tern", "Elegant_Tern", "Forsters_Tern", "Least_Tern",
               "Green_tailed_Towhee", "Brown_Thrasher", "Sage_Thrasher", "Black_capped_Vireo",
               "Blue_headed_Vireo", "Philadelphia_Vireo", "Red_eyed_Vireo", "Warbling_Vireo",
               "White_eyed_Vireo", "Yellow_throated_Vireo", "Bay_breasted_Warbler",
               "Black_and_white_Warbler", "Black_throated_Blue_Warbler", "Blue_winged_Warbler",
               "Canada_Warbler", "Cape_May_Warbler", "Cerulean_Warbler", "Chestnut_sided_Warbler",
               "Golden_winged_Warbler", "Hooded_Warbler", "Kentucky_Warbler", "Magnolia_Warbler",
               "Mourning_Warbler", "Myrtle_Warbler", "Nashville_Warbler", "Orange_crowned_Warbler",
               "Palm_Warbler", "Pine_Warbler", "Prairie_Warbler", "Prothonotary_Warbler", "Swainson_Warbler",
               "Tennessee_Warbler", "Wilson_Warbler", "Worm_eating_Warbler", "Yellow_Warbler",
               "Northern_Waterthrush", "Louisiana_Waterthrush", "Bohemian_Waxwing", "Cedar_Waxwing",
               "American_Three_toed_Woodpecker", "Pileated_Woodpecker", "Red_bellied_Woodpecker",
               "Red_cockaded_Woodpecker", "Red_headed_Woodpecker", "Downy_Woodpecker", "Bewick_Wren",
               "Cactus_Wren", "Carolina_Wren", "House_Wren", "Marsh_Wren", "Rock_Wren", "Winter_Wren",
               "Common_Yellowthroat")

    def __init__(
        self,
        data_prefix: str,
        ann_file: str,
        image_class_labels_file: str,
        train_test_split_file: str,
        pipeline: Sequence = (),
        classes: str | Sequence[str] | None = None,
        test_mode: bool = False,
    ):
        self.image_class_labels_file = expanduser(image_class_labels_file)
        self.train_test_split_file = expanduser(train_test_split_file)
        super().__init__(data_prefix=data_prefix, pipeline=pipeline, classes=classes, ann_file=ann_file,
                         test_mode=test_mode)

    def load_annotations(self) -> list[dict]:
        files = _values(self.ann_file)
        # the file's classes count from 1
        labels = [int(value) - 1 for value in _values(self.image_class_labels_file)]
        is_train = [int(value) == 1 for value in _values(self.train_test_split_file)]
        if not len(files) == len(labels) == len(is_train):
            raise ValueError(f"samples({len(files)}), gt_labels({len(labels)}) and splits({len(is_train)}) "
                             "should have same length.")
        return [{"img_prefix": self.data_prefix, "img_info": {"filename": filename},
                 "gt_label": np.array(label, dtype=np.int64)}
                for filename, label, train in zip(files, labels, is_train, strict=True) if train != self.test_mode]

"""Object detection: R-CNN, Fast R-CNN and Faster R-CNN on canvases of digits, stage by stage, with their timings."""
from cnnviz.text.detection import INTRO
from cnnviz.ui.page import Page

PAGE = Page(
    "detection",
    intro=INTRO,
    views=("detection.canvas", "detection.proposals", "detection.rcnn", "detection.nms", "detection.fast",
           "detection.faster", "detection.timing"),
)

if __name__ == "__main__":
    PAGE.show()

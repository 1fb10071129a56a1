from django.urls import path

from dashboard import playground_views, task_views, views

urlpatterns = [
    path("dashboard", views.dashboard, name="dashboard"),
    path("tasks", task_views.tasks, name="tasks"),
    path("tasks/<str:task_id>", task_views.task_detail_page, name="task_detail"),
    path("playground", playground_views.playground, name="playground"),
    path(
        "playground/<slug:slug>", playground_views.playground_operation, name="playground_operation"
    ),
]
